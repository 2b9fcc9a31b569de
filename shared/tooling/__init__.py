"""Method tooling: formatting, linting, code generation, templates of inputs and runners. Pure."""
