"""Code that runs in AWS Lambda: one package per function, shared code in `common`."""
