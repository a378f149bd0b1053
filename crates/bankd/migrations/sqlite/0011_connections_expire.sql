-- `/metrics` counts the consents ending soon at every scrape: an index keeps that a range read.
CREATE INDEX connections_expire ON connections(expire) WHERE expire IS NOT NULL;
