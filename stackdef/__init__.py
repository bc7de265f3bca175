"""The stack's own definitions, read from template.yaml and the functions' code, for the sandbox, the
tools, the benchmarks and the tests alike: the template (:mod:`stackdef.template`), the functions'
handler modules and a Lambda-like context (:mod:`stackdef.functions`), the OpenAPI document of the
HTTP API (:mod:`stackdef.openapi`) and the demo portal's files (:mod:`stackdef.portal`). It imports
none of them."""
