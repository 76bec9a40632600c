"""What the user configured: `mlflow.yml`'s schema and validation (schema.py), reading it and
`credentials.yml` through a Kedro context (project.py), and the project's runtime pin (pin.py).

Nothing is re-exported here: importing a submodule must not import pydantic with it.
"""
