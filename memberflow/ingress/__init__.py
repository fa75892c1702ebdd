"""The webhook ingress: providers' webhooks in, domain changes and Prefect events out.

One module per provider (`stripe`, `memberpress`, `membermouse`, `generic`) checks who sent a
webhook and translates it into a provider-neutral `Change` (`changes.py`). `inbox.py` stores it
and applies it to the domain in one transaction; `emitter.py` hands the resulting Prefect event
to the Prefect API, later if the API is down. `app.py` is the ASGI app that ties them together.
"""
