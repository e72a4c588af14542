"""Expand template.yaml as SAM does and resolve it for one account, region and stack.

Reads a JSON request on stdin:
    {"template": path, "account": "111122223333", "region": "us-east-1",
     "stack": "close-recharge", "parameters": {"Name": "value", ...}}
and writes {"Resources": {...}, "Attributes": {...}} to stdout: the resources CloudFormation would create
(conditions applied), every intrinsic function replaced by the value it takes in that deployment, and each
resource's Ref and Fn::GetAtt values (its ARN, name, URL).

The resolver knows the intrinsics and resource attributes the template uses and nothing more:
anything else raises, so that a new construct fails the test instead of being guessed.
"""

import copy
import json
import os
import re
import sys
import zlib

from cfnlint.decode import cfn_yaml
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator


class Unresolvable(Exception):
    pass


# Physical ids CloudFormation would generate, made deterministic.
def generated_name(stack, logical):
    return f"{stack}-{logical}-EXAMPLE{zlib.crc32(logical.encode()) % 10**6:06d}"[:80]


def partition_of(region):
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


class Resolver:
    def __init__(self, template, account, region, stack, parameters):
        self.t = template
        self.account = account
        self.region = region
        self.stack = stack
        self.partition, self.suffix = partition_of(region)
        self.params = {}
        for name, decl in template.get("Parameters", {}).items():
            if name in parameters:
                value = parameters[name]
            elif "Default" in decl:
                value = decl["Default"]
            else:
                raise Unresolvable(f"parameter {name} has no default and no value was given")
            value = str(value)
            if decl["Type"] == "CommaDelimitedList":
                value = [v.strip() for v in value.split(",")] if value else []
            elif "AllowedValues" in decl and value not in [str(v) for v in decl["AllowedValues"]]:
                raise Unresolvable(f"parameter {name}={value!r} is not among its AllowedValues")
            elif "AllowedPattern" in decl and not re.fullmatch(decl["AllowedPattern"], value):
                raise Unresolvable(f"parameter {name}={value!r} does not match its AllowedPattern")
            self.params[name] = value
        self.conditions = {}
        self.names = {}

    def pseudo(self, name):
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": self.suffix,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{self.stack}/example",
        }.get(name)

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.truth(self.t["Conditions"][name])
        return self.conditions[name]

    def truth(self, node):
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::Or":
            return any(self.truth(x) for x in arg)
        if fn == "Fn::And":
            return all(self.truth(x) for x in arg)
        if fn == "Condition":
            return self.condition(arg)
        raise Unresolvable(f"condition function {fn}")

    def arn(self, service, rest, region=True):
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{rest}"

    def name(self, logical, prop):
        res = self.t["Resources"][logical]
        given = res.get("Properties", {}).get(prop) if prop else None
        if given is not None:
            return self.value(given)
        return self.names.setdefault(logical, generated_name(self.stack, logical))

    # Ref and Fn::GetAtt for each resource type the template references; (ref, {attribute: value}).
    def attributes(self, logical):
        res = self.t["Resources"].get(logical)
        if res is None:
            raise Unresolvable(f"reference to unknown resource {logical}")
        if "Condition" in res and not self.condition(res["Condition"]):
            raise Unresolvable(f"reference to {logical}, whose condition is false")
        kind = res["Type"]
        if kind == "AWS::SQS::Queue":
            n = self.name(logical, "QueueName")
            url = f"https://sqs.{self.region}.{self.suffix}/{self.account}/{n}"
            return url, {"Arn": self.arn("sqs", n), "QueueName": n, "QueueUrl": url}
        if kind == "AWS::IAM::Role":
            n = self.name(logical, "RoleName")
            return n, {"Arn": self.arn("iam", f"role/{n}", region=False), "RoleId": "AROAEXAMPLE" + logical.upper()}
        if kind == "AWS::Events::Rule":
            n = self.name(logical, "Name")
            bus = self.value(res["Properties"].get("EventBusName", "default"))
            path = f"rule/{n}" if bus == "default" else f"rule/{bus}/{n}"
            return n, {"Arn": self.arn("events", path)}
        if kind == "AWS::Events::EventBus":
            n = self.name(logical, "Name")
            return n, {"Arn": self.arn("events", f"event-bus/{n}"), "Name": n}
        if kind == "AWS::Scheduler::ScheduleGroup":
            n = self.name(logical, "Name")
            return n, {"Arn": self.arn("scheduler", f"schedule-group/{n}")}
        if kind == "AWS::DynamoDB::Table":
            n = self.name(logical, "TableName")
            return n, {"Arn": self.arn("dynamodb", f"table/{n}")}
        if kind == "AWS::KMS::Key":
            key_id = "0000aaaa-11bb-22cc-33dd-" + f"{zlib.crc32(logical.encode()):012d}"
            return key_id, {"Arn": self.arn("kms", f"key/{key_id}"), "KeyId": key_id}
        if kind == "AWS::SNS::Topic":
            n = self.name(logical, "TopicName")
            a = self.arn("sns", n)
            return a, {"TopicArn": a, "TopicName": n}
        if kind == "AWS::Logs::LogGroup":
            n = self.name(logical, "LogGroupName")
            return n, {"Arn": self.arn("logs", f"log-group:{n}:*")}
        if kind == "AWS::Lambda::Function":
            n = self.name(logical, "FunctionName")
            return n, {"Arn": self.arn("lambda", f"function:{n}")}
        if kind == "AWS::Lambda::Version":
            # The first version a stack publishes: a qualified ARN of the function.
            fn = self.value(res["Properties"]["FunctionName"])
            return f"{self.arn('lambda', f'function:{fn}')}:1", {"Version": "1"}
        if kind == "AWS::Lambda::Alias":
            fn = self.value(res["Properties"]["FunctionName"])
            return f"{self.arn('lambda', f'function:{fn}')}:{self.value(res['Properties']['Name'])}", {}
        if kind in ("AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup"):
            return self.name(logical, "ApplicationName" if kind.endswith("Application") else "DeploymentGroupName"), {}
        if kind == "AWS::ApiGatewayV2::Api":
            api_id = "a1b2c3d4e5"
            return api_id, {"ApiEndpoint": f"https://{api_id}.execute-api.{self.region}.{self.suffix}"}
        if kind == "AWS::ApiGatewayV2::Stage":
            return self.value(res["Properties"]["StageName"]), {}
        if kind == "AWS::CloudWatch::Alarm":
            n = self.name(logical, "AlarmName")
            return n, {"Arn": self.arn("cloudwatch", f"alarm:{n}")}
        if kind in OPAQUE_IDS:
            return f"{logical}-id", {}
        raise Unresolvable(f"resource type {kind} ({logical}) has no known Ref or attributes")

    def value(self, node):
        if isinstance(node, list):
            out = []
            for x in node:
                v = self.value(x)
                if v is not NO_VALUE:
                    out.append(v)
            return out
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg in self.params:
                    return self.params[arg]
                if arg == "AWS::NoValue":
                    return NO_VALUE
                p = self.pseudo(arg)
                if p is not None:
                    return p
                return self.attributes(arg)[0]
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                attrs = self.attributes(logical)[1]
                if attr not in attrs:
                    raise Unresolvable(f"Fn::GetAtt {logical}.{attr}")
                return attrs[attr]
            if fn == "Fn::If":
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self.sub(text, {k: self.value(v) for k, v in variables.items()})
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.value(items))
            if fn == "Fn::FindInMap":
                m, k1, k2 = (self.value(x) for x in arg)
                return self.t["Mappings"][m][str(k1)][str(k2)]
            if fn == "Fn::Split":
                sep, text = arg
                return self.value(text).split(sep)
            if fn == "Fn::Select":
                i, items = arg
                return self.value(items)[int(self.value(i))]
            if fn.startswith("Fn::") or fn == "Condition":
                raise Unresolvable(f"intrinsic {fn}")
        out = {}
        for k, v in node.items():
            v = self.value(v)
            if v is not NO_VALUE:
                out[k] = v
        return out

    def sub(self, text, variables):
        def one(m):
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr:
                return str(self.value({"Fn::GetAtt": expr}))
            return str(self.value({"Ref": expr}))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resources(self):
        out, attrs = {}, {}
        for logical, res in self.t["Resources"].items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            out[logical] = self.value(res)
            ref, named = self.attributes(logical)
            attrs[logical] = {"Ref": ref, **named}
        return out, attrs


NO_VALUE = object()

# Types whose physical id is an opaque token no policy of this template names.
OPAQUE_IDS = {
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Logs::MetricFilter",
}


def main():
    req = json.load(sys.stdin)
    template = json.loads(json.dumps(cfn_yaml.load(req["template"])))
    # SAM needs an S3 location for code it does not build; the value plays no part in any policy.
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://example-bucket/close-recharge.zip"
    os.environ["AWS_DEFAULT_REGION"] = req["region"]
    params = dict(req.get("parameters", {}))
    sam_params = dict(params)
    sam_params.update({"AWS::Region": req["region"], "AWS::AccountId": req["account"],
                       "AWS::StackName": req["stack"], "AWS::Partition": partition_of(req["region"])[0]})
    expanded = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(
        sam_template=copy.deepcopy(template), parameter_values=sam_params)
    expanded = json.loads(json.dumps(expanded))
    try:
        resources, attributes = Resolver(expanded, req["account"], req["region"], req["stack"], params).resources()
    except Unresolvable as e:
        print(f"expand.py: cannot resolve: {e}", file=sys.stderr)
        sys.exit(2)
    json.dump({"Resources": resources, "Attributes": attributes}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
