// Package access holds the access matrix of the stack: every path by which a principal reaches a
// resource of template.yaml, decided by a real IAM policy evaluator over the SAM-expanded template
// resolved for one account, region and stack. It has tests only.
package access
