-- W3C trace context of the request that created the job: the worker continues that trace.
ALTER TABLE provisioning_jobs ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
