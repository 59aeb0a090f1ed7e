-- Issue 15: the `network` section of an agent's metadata (its egress policy as the document
-- states it, unchecked: the relayer parses it with nexus-egress's `Policy::from_json` and decides
-- from `metadata_uri` whether the document is content-addressed enough to be trusted with it).
-- Stored like `output_schema` so the relayer reads it in the same round trip as the request.
ALTER TABLE agents ADD COLUMN network jsonb;
