"""Runtime code shared by every function: settings, HTTP errors, observability."""
