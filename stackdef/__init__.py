"""The stack's own definitions, read from template.yaml and the functions' code, for the sandbox, the
tools, the benchmarks and the tests alike: the template (:mod:`stackdef.template`), the functions'
handler modules and a Lambda-like context (:mod:`stackdef.functions`), and the OpenAPI document of the
HTTP API (:mod:`stackdef.openapi`). It imports none of them."""
