"""The seed's account phases: the users' rows (their counters come from the earlier phases)
and their search history."""

from __future__ import annotations

import numpy as np

from seed.copy import text_escape, ts_text
from seed.loader import Loader
from seed.plan import K, Plan
from seed.sampling import DAY_US, PH_SEARCH, PH_USER, GroupSampler, chunks, rhythm_ts, rng_for


def users_load(plan: Plan, out: Loader, password_hash: str) -> None:
    n = plan.n_users
    post_count = np.bincount(plan.post_author, minlength=n)
    names = ["id", "password", "last_login", "is_superuser", "first_name", "last_name", "email"]
    names += ["is_staff", "is_active", "date_joined", "username", "name", "bio", "avatar"]
    names += ["is_private", "follower_count", "following_count", "post_count"]
    password = text_escape(password_hash)
    with out.phase("users", n):
        for number, lo, hi in chunks(n, 1, out.chunk_rows // 4):
            rng = rng_for(plan.seed, PH_USER, number + 1)
            m = hi - lo
            seen = rng.integers(0, 30 * DAY_US, m)
            last_login = ts_text(plan.end_us - seen)
            joined = ts_text(plan.joined[lo:hi])
            bio_pick = rng.integers(0, 1 << 30, m).tolist()
            has_bio = (rng.random(m) < 0.6).tolist()
            lines = []
            for i in range(m):
                u = lo + i
                comm = int(plan.community[u])
                bio = ""
                if has_bio[i]:
                    pool = (plan.text_ko if plan.korean[u] else plan.text_en)[comm]
                    bio = text_escape(pool[bio_pick[i] % len(pool)][:150])
                login = "\\N" if plan.tier[u] == 0 else last_login[i]
                lines.append(
                    f"{u + 1}\t{password}\t{login}\tf\t\t\t{plan.usernames[u]}@example.com\tf\tt\t"
                    f"{joined[i]}\t{plan.usernames[u]}\t{text_escape(plan.names[u])}\t{bio}\t\t"
                    f"{'t' if plan.private[u] else 'f'}\t{plan.in_deg[u]}\t{plan.out_deg[u]}\t"
                    f"{post_count[u]}\n"
                )
            out.text("accounts_user", names, lines)


def searches_load(plan: Plan, out: Loader) -> None:
    n, total = plan.n_users, plan.preset.searches
    rng = rng_for(plan.seed, PH_SEARCH)
    per_user = rng.multinomial(total, plan.like_w / plan.like_w.sum())
    user = np.repeat(np.arange(n), per_user)
    users = plan.users_by_comm()
    tags = plan.tags_by_comm()
    places = GroupSampler(plan.place_comm, np.ones(len(plan.place_comm)), K)
    comm = plan.community[user]
    what = rng.choice(4, size=len(user), p=[0.45, 0.3, 0.15, 0.1])
    tag_pick = tags.within(rng, comm + 1).tolist()
    user_pick = users.within(rng, comm).tolist()
    place_pick = places.within(rng, comm).tolist()
    click = (rng.random(len(user)) < 0.3).tolist()
    cut = rng.integers(2, 7, len(user)).tolist()
    ts = np.sort(rhythm_ts(rng, len(user), plan.end_us - 60 * DAY_US, plan.end_us))
    stamps = ts_text(ts)
    user_l, what_l = user.tolist(), what.tolist()
    lines = []
    for i in range(len(user)):
        kind, target_type, target = "query", "", "\\N"
        if what_l[i] == 0:
            query, target_type, target_id = plan.tag_names[tag_pick[i]], "hashtag", tag_pick[i]
        elif what_l[i] == 1:
            query, target_type, target_id = plan.usernames[user_pick[i]], "user", user_pick[i]
        elif what_l[i] == 2:
            query = plan.place_names[place_pick[i]].lower()
            target_type, target_id = "place", place_pick[i]
        else:
            query, target_type, target_id = plan.tag_names[tag_pick[i]], "post", -1
        if click[i] and target_id >= 0:
            kind, target = "click", str(target_id + 1)
        else:
            target_type = ""
            query = query[: max(cut[i], len(query) // 2)]
        lines.append(
            f"{i + 1}\t{text_escape(query[:100])}\t{kind}\t{target_type}\t{target}\t{stamps[i]}\t"
            f"{user_l[i] + 1}\n"
        )
    names = ["id", "query", "kind", "target_type", "target_id", "created_at", "user_id"]
    with out.phase("search", len(lines)):
        out.text("search_searchquery", names, lines)
