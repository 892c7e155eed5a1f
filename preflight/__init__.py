"""`make preflight STACK=<stack>`: read-only checks of the target AWS account before `pulumi up`.

Each check asks the account (with the credentials in the environment, honouring
AWS_ENDPOINT_URL) one question the program cannot answer offline: is the concurrency
there, may the model be called, does the Powertools layer exist, is the secret set, is
the Apple root pinned right, is the alert email confirmed, does API Gateway have its
logging role. It prints one line per check, then a headline, and exits 0 when every
check that ran passed, 1 when one would break the deployment or the first day, 3 when
no check could ask the account (no credentials, or an account that answered nothing:
nothing was checked); a check that could not ask is `skip`, never ok. Nothing is
created or changed.
"""
