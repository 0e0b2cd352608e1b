"""Search indexes: the trigger-maintained Post.search_document, trigram and prefix indexes.

The document is the `simple` configuration plus unaccent over the caption (weight A), the
post's place name (C) and its hashtag names (B). `simple` does no stemming, which is what
mixed Korean and English text wants: Korean particles stay glued to the word, and the query
side handles them with prefix matching (`서울:*` finds `서울에서`).

Triggers keep it exact:
- posts_post BEFORE INSERT / UPDATE OF caption, place_id recomputes the row's document;
- posts_posthashtag AFTER INSERT / DELETE, per statement with transition tables: inserted
  tag names are appended set-based, deletes recompute the touched posts once each.

A bulk loader may `SET LOCAL instalab.search_sync = 'off'` and call
`search_documents_rebuild()` once at the end (see app/search/services.py).
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is STABLE (its dictionary could change); pinning the dictionary makes it safe
-- to mark IMMUTABLE, which expression indexes and generated values require.
CREATE OR REPLACE FUNCTION search_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE OR REPLACE FUNCTION search_post_document(p_caption text, p_place_id bigint, p_id bigint)
RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  -- Caption, place, then tags: the order the insert triggers build it in, so a document
  -- made incrementally has the same positions (and ts_rank) as a full recompute.
  SELECT
    setweight(to_tsvector('simple', search_unaccent(coalesce(p_caption, ''))), 'A')
    || setweight(to_tsvector('simple', search_unaccent(coalesce(
         (SELECT pl.name FROM posts_place pl WHERE pl.id = p_place_id), ''))), 'C')
    || setweight(to_tsvector('simple', search_unaccent(coalesce(
         (SELECT string_agg(h.name, ' ' ORDER BY ph.hashtag_id)
            FROM posts_posthashtag ph JOIN posts_hashtag h ON h.id = ph.hashtag_id
           WHERE ph.post_id = p_id), ''))), 'B')
$$;

CREATE OR REPLACE FUNCTION search_sync_enabled() RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT coalesce(current_setting('instalab.search_sync', true), 'on') <> 'off' $$;

CREATE OR REPLACE FUNCTION search_post_document_trigger() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF NOT search_sync_enabled() THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    -- A new row has no hashtags yet (they reference it), so skip that lookup: during a bulk
    -- COPY without indexes it would scan posts_posthashtag once per row.
    NEW.search_document :=
      setweight(to_tsvector('simple', search_unaccent(coalesce(NEW.caption, ''))), 'A')
      || setweight(to_tsvector('simple', search_unaccent(coalesce(
           (SELECT pl.name FROM posts_place pl WHERE pl.id = NEW.place_id), ''))), 'C');
  ELSE
    NEW.search_document := search_post_document(NEW.caption, NEW.place_id, NEW.id);
  END IF;
  RETURN NEW;
END
$$;

-- Inserted tags are appended set-based from the transition table: no per-post lookup of
-- the post's other tags, so a bulk load costs one hash join per statement.
CREATE OR REPLACE FUNCTION search_posthashtag_inserted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF search_sync_enabled() THEN
    UPDATE posts_post p
       SET search_document = coalesce(p.search_document, ''::tsvector)
           || setweight(to_tsvector('simple', search_unaccent(added.names)), 'B')
      FROM (SELECT c.post_id, string_agg(h.name, ' ' ORDER BY c.hashtag_id) AS names
              FROM changed_rows c JOIN posts_hashtag h ON h.id = c.hashtag_id
             GROUP BY c.post_id) AS added
     WHERE p.id = added.post_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_posthashtag_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF search_sync_enabled() THEN
    UPDATE posts_post p
       SET search_document = search_post_document(p.caption, p.place_id, p.id)
     WHERE p.id IN (SELECT DISTINCT post_id FROM changed_rows);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_documents_rebuild() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  touched bigint;
BEGIN
  UPDATE posts_post p
     SET search_document = search_post_document(p.caption, p.place_id, p.id);
  GET DIAGNOSTICS touched = ROW_COUNT;
  RETURN touched;
END
$$;

CREATE TRIGGER search_post_document
BEFORE INSERT OR UPDATE OF caption, place_id ON posts_post
FOR EACH ROW EXECUTE FUNCTION search_post_document_trigger();

CREATE TRIGGER search_posthashtag_insert
AFTER INSERT ON posts_posthashtag
REFERENCING NEW TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_posthashtag_inserted();

CREATE TRIGGER search_posthashtag_delete
AFTER DELETE ON posts_posthashtag
REFERENCING OLD TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_posthashtag_deleted();

SELECT search_documents_rebuild();
"""

FUNCTIONS_DROP = r"""
DROP TRIGGER IF EXISTS search_posthashtag_delete ON posts_posthashtag;
DROP TRIGGER IF EXISTS search_posthashtag_insert ON posts_posthashtag;
DROP TRIGGER IF EXISTS search_post_document ON posts_post;
DROP FUNCTION IF EXISTS search_documents_rebuild();
DROP FUNCTION IF EXISTS search_posthashtag_deleted();
DROP FUNCTION IF EXISTS search_posthashtag_inserted();
DROP FUNCTION IF EXISTS search_post_document_trigger();
DROP FUNCTION IF EXISTS search_sync_enabled();
DROP FUNCTION IF EXISTS search_post_document(text, bigint, bigint);
DROP FUNCTION IF EXISTS search_unaccent(text);
"""

# (name, table, definition). Names stay under 63 bytes; each is justified in search.md.
INDEXES = [
    # Fuzzy (`%`) and infix (`LIKE '%q%'`) username search.
    ("search_user_username_trgm", "accounts_user", "USING gin (username gin_trgm_ops)"),
    # Infix display-name search (`name ILIKE '%q%'`).
    ("search_user_name_trgm", "accounts_user", "USING gin (name gin_trgm_ops)"),
    # Display-name prefix for 1-2 character typeahead, where trigrams cannot help.
    ("search_user_name_prefix", "accounts_user", "(lower(name) text_pattern_ops)"),
    # Candidate order: the most followed matches first, walked until the cap is full.
    ("search_user_popular", "accounts_user", "(follower_count DESC, id DESC)"),
    ("search_hashtag_popular", "posts_hashtag", "(post_count DESC, id DESC)"),
    ("search_place_name_prefix", "posts_place", "(lower(name) text_pattern_ops)"),
    ("search_place_popular", "posts_place", "(post_count DESC, id DESC)"),
    # History: dedup check per (user, query).
    ("search_searchquery_user_query", "search_searchquery", "(user_id, query)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_initial"),
        ("posts", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, FUNCTIONS_DROP),
        *[
            migrations.RunSQL(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}",
                f"DROP INDEX IF EXISTS {name}",
            )
            for name, table, definition in INDEXES
        ],
    ]
