"""The generators: a compact in-memory plan, then one streaming COPY phase per table family.

The plan is ``seed/plan.py`` (its random streams and draws ``seed/sampling.py``); the phases
write through ``seed/loader.py``: follows, likes, comments and saves (``seed/load_social.py``),
posts, hashtags and places (``seed/load_posts.py``), users and searches
(``seed/load_users.py``), chat (``seed/load_chat.py``). They run in the order below: each
counter a later phase writes was accumulated by an earlier one.
"""

from __future__ import annotations

from seed.load_chat import chat_load
from seed.load_posts import hashtags_load, places_load, posts_load
from seed.load_social import comments_load, follows_load, likes_load, saves_load
from seed.load_users import searches_load, users_load
from seed.loader import Loader
from seed.plan import Plan


def phases_load(plan: Plan, out: Loader, password_hash: str) -> None:
    """Every table family, in dependency order, into ``out``'s open transaction."""
    follows_load(plan, out)
    likes_load(plan, out)
    comments_load(plan, out)
    saves_load(plan, out)
    posts_load(plan, out)
    hashtags_load(plan, out)
    places_load(plan, out)
    users_load(plan, out, password_hash)
    chat_load(plan, out)
    searches_load(plan, out)
