"""Tables the deployment needs that are not the biobank's records: the shared cache
(throttle counters) and the responses stored under an Idempotency-Key."""
