// Runs @cloud-copilot/iam-simulate over a JSON array of simulations read on stdin and writes one
// result per simulation: the decision, the context keys the evaluator ignored, and any validation
// errors (a simulation it cannot run is reported, never taken for a denial).
'use strict'
const { runSimulation } = require('@cloud-copilot/iam-simulate')

async function main() {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const simulations = JSON.parse(input)
  const results = []
  for (const sim of simulations) {
    const r = await runSimulation(
      {
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...sim
      },
      { simulationMode: 'Strict' }
    )
    if (r.resultType === 'error') {
      results.push({ errors: r.errors })
    } else if (r.resultType === 'single') {
      results.push({ decision: r.overallResult, ignoredContextKeys: r.result.ignoredContextKeys || [] })
    } else {
      results.push({
        decision: r.overallResult,
        ignoredContextKeys: [...new Set(r.results.flatMap((x) => x.ignoredContextKeys || []))],
        wildcard: true
      })
    }
  }
  process.stdout.write(JSON.stringify(results))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
