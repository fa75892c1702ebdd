"""Bringing a provider's existing business in (`memberflow sync <provider>`).

Each object the provider's API lists becomes the event that would have told memberflow of it,
read by the provider's own `translate` and applied by the ingress's own `apply_change`: one
mapping of the provider's objects for a webhook, a sync and a reconcile. A sync fires no Prefect
event per object: it writes what changed, and the pipelines' next runs pick it up.
"""
