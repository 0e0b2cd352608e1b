"""posts_hashtag.public_post_count: how many posts of public authors carry each hashtag.

Hashtag counts are shared: the typeahead's cache, search results and the hashtag page's
window serve one answer to every viewer. So they count only what every viewer may see, the
posts of public authors, and a hashtag no public post carries is neither suggested nor
found by search (docs/reliability.md, privacy rules). ``post_count`` (every post) stays
for the owner's bookkeeping and is no longer shown.

The column is search's derived data, like ``posts_post.search_document``, and is kept by
triggers, so every write path, a bulk load included, keeps it exact:
- posts_posthashtag AFTER INSERT / DELETE, per statement with transition tables: the
  changed links of public authors' posts, counted per hashtag (one hash join);
- accounts_user AFTER UPDATE OF is_private: that author's posts' hashtags move by their
  count, down when the account turns private, up when it turns public.

A bulk loader that runs with ``instalab.search_sync = 'off'`` gets the counts from
``search_documents_rebuild()``, which now recounts them too. The column is not declared on
the Hashtag model: Django never writes it (inserts take the default, 0), and only search's
raw SQL reads it. The popular index serves the typeahead's and search's candidate walk.
"""

from importlib import import_module

from django.db import migrations

# The rebuild as migration 0003 left it: what reversing this migration restores.
DOCUMENTS_ONLY = import_module("app.search.migrations.0003_set_based_rebuild").SET_BASED

COLUMN = r"""
ALTER TABLE posts_hashtag ADD COLUMN IF NOT EXISTS public_post_count integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS search_hashtag_public_popular
    ON posts_hashtag (public_post_count DESC, id DESC);
"""

COLUMN_DROP = r"""
DROP INDEX IF EXISTS search_hashtag_public_popular;
ALTER TABLE posts_hashtag DROP COLUMN IF EXISTS public_post_count;
"""

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION search_hashtag_counts_rebuild() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  touched bigint;
BEGIN
  UPDATE posts_hashtag h SET public_post_count = coalesce(c.n, 0)
    FROM posts_hashtag h2
    LEFT JOIN (SELECT s.hashtag_id, count(*) AS n
                 FROM posts_posthashtag s
                 JOIN posts_post p ON p.id = s.post_id
                 JOIN accounts_user a ON a.id = p.author_id
                WHERE NOT a.is_private
                GROUP BY s.hashtag_id) c ON c.hashtag_id = h2.id
   WHERE h2.id = h.id AND h.public_post_count IS DISTINCT FROM coalesce(c.n, 0);
  GET DIAGNOSTICS touched = ROW_COUNT;
  RETURN touched;
END
$$;

CREATE OR REPLACE FUNCTION search_posthashtag_counted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF search_sync_enabled() THEN
    UPDATE posts_hashtag h
       SET public_post_count = greatest(
             0, h.public_post_count + (CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END) * d.n)
      FROM (SELECT c.hashtag_id, count(*) AS n
              FROM changed_rows c
              JOIN posts_post p ON p.id = c.post_id
              JOIN accounts_user a ON a.id = p.author_id
             WHERE NOT a.is_private
             GROUP BY c.hashtag_id) d
     WHERE h.id = d.hashtag_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_author_privacy_counted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF search_sync_enabled() THEN
    UPDATE posts_hashtag h
       SET public_post_count = greatest(
             0, h.public_post_count + (CASE WHEN NEW.is_private THEN -1 ELSE 1 END) * d.n)
      FROM (SELECT s.hashtag_id, count(*) AS n
              FROM posts_posthashtag s JOIN posts_post p ON p.id = s.post_id
             WHERE p.author_id = NEW.id
             GROUP BY s.hashtag_id) d
     WHERE h.id = d.hashtag_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER search_posthashtag_count_insert
AFTER INSERT ON posts_posthashtag
REFERENCING NEW TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_posthashtag_counted();

CREATE TRIGGER search_posthashtag_count_delete
AFTER DELETE ON posts_posthashtag
REFERENCING OLD TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION search_posthashtag_counted();

CREATE TRIGGER search_author_privacy_count
AFTER UPDATE OF is_private ON accounts_user
FOR EACH ROW WHEN (OLD.is_private IS DISTINCT FROM NEW.is_private)
EXECUTE FUNCTION search_author_privacy_counted();

SELECT search_hashtag_counts_rebuild();
"""

FUNCTIONS_DROP = r"""
DROP TRIGGER IF EXISTS search_author_privacy_count ON accounts_user;
DROP TRIGGER IF EXISTS search_posthashtag_count_delete ON posts_posthashtag;
DROP TRIGGER IF EXISTS search_posthashtag_count_insert ON posts_posthashtag;
DROP FUNCTION IF EXISTS search_author_privacy_counted();
DROP FUNCTION IF EXISTS search_posthashtag_counted();
DROP FUNCTION IF EXISTS search_hashtag_counts_rebuild();
"""

# search_documents_rebuild() as in 0003, then the counts: the bulk loader's one call after a
# load with search_sync off leaves both exact.
REBUILD = r"""
CREATE OR REPLACE FUNCTION search_documents_rebuild() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  touched bigint;
BEGIN
  -- Caption (A), place (C), then tags (B) in hashtag_id order: search_post_document's order.
  UPDATE posts_post p
     SET search_document =
           setweight(to_tsvector('simple', search_unaccent(coalesce(p.caption, ''))), 'A')
        || setweight(to_tsvector('simple', search_unaccent(coalesce(pl.name, ''))), 'C')
        || setweight(to_tsvector('simple', search_unaccent(coalesce(t.names, ''))), 'B')
    FROM posts_post p2
    LEFT JOIN posts_place pl ON pl.id = p2.place_id
    LEFT JOIN (SELECT ph.post_id, string_agg(h.name, ' ' ORDER BY ph.hashtag_id) AS names
                 FROM posts_posthashtag ph JOIN posts_hashtag h ON h.id = ph.hashtag_id
                GROUP BY ph.post_id) t ON t.post_id = p2.id
   WHERE p2.id = p.id;
  GET DIAGNOSTICS touched = ROW_COUNT;
  PERFORM search_hashtag_counts_rebuild();
  RETURN touched;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("search", "0004_document_statistics")]

    operations = [
        migrations.RunSQL(COLUMN, COLUMN_DROP),
        migrations.RunSQL(FUNCTIONS, FUNCTIONS_DROP),
        migrations.RunSQL(REBUILD, DOCUMENTS_ONLY),
    ]
