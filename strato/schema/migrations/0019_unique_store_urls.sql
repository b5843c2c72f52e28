-- Two image stores, or two pools, on one location would each count, clean up and delete
-- the other's files as orphans: a location belongs to one of them (a trailing slash does
-- not make it another).
CREATE UNIQUE INDEX image_stores_url_idx ON image_stores (rtrim(url, '/'));
CREATE UNIQUE INDEX storage_pools_url_idx ON storage_pools (rtrim(url, '/')) WHERE url <> '';
