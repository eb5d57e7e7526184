-- A pool's holds get a table of their own: a hold or a confirmation writes one row instead of the pool's whole state.
-- Every change still bumps the pool's version in the same statement, so two activations cannot both commit.

CREATE TABLE pool_holds (
    pool_id             text NOT NULL REFERENCES pools (id),
    reservation_id      text NOT NULL,
    start_hour          bigint NOT NULL,
    hours               integer NOT NULL CHECK (hours > 0),
    gpus                integer NOT NULL CHECK (gpus > 0),
    confirmed           boolean NOT NULL,
    expires_at          timestamptz,
    released_from_hour  bigint,
    earned              boolean NOT NULL DEFAULT false,
    PRIMARY KEY (pool_id, reservation_id)
);

INSERT INTO pool_holds (pool_id, reservation_id, start_hour, hours, gpus, confirmed, expires_at, released_from_hour, earned)
SELECT p.id, h.key, (h.value ->> 'startHour')::bigint, (h.value ->> 'hours')::int, (h.value ->> 'gpus')::int,
       (h.value ->> 'confirmed')::boolean, (h.value ->> 'expiresAt')::timestamptz, (h.value ->> 'releasedFromHour')::bigint,
       coalesce((h.value ->> 'earned')::boolean, false)
FROM pools p, jsonb_each(coalesce(p.state_json -> 'holds', '{}'::jsonb)) h;

UPDATE pools SET state_json = state_json - 'holds' WHERE state_json ? 'holds';
