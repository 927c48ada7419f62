-- Errata schema: from this version on, stored event payloads are zstd frames compressed
-- with the dictionary shipped in the binary (src/store/payload.rs), which each frame names
-- in its header. Rows written before stay as they are and are read as they are. Nothing in
-- the tables changes; the version exists so that an older Errata, which could not read the
-- new payloads, refuses this database instead of failing on every event it reads.
-- Never edit once landed.
SELECT 1;
