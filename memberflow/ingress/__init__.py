"""The webhook ingress: providers' webhooks in, domain changes and Prefect events out.

One file per provider in `providers/` (`stripe`, `memberpress`, `membermouse`,
`memberflow_events`) declares a `Provider` (`provider.py`): its route, signature check,
translation into a provider-neutral `Change` (`changes.py`), signing for replays, and OpenAPI
text. `inbox.py` stores a change and applies it to the domain in one transaction; `emitter.py`
hands the resulting Prefect event to the Prefect API, later if the API is down. `app.py` is the
ASGI app that mounts whatever `providers.discover_providers()` finds.
"""
