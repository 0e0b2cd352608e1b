"""More statistics on posts' search documents, so the planner sees how common a word is.

Search terms are prefixes (`'바다':*`). PostgreSQL estimates a prefix match from the column's
most common lexemes, and with the default target (100) it kept too few of them: at `medium`
it put `바다` at 1.7k matching posts against 10k real ones, chose to sort every match
(33 ms) rather than walk the recency index until the 200 newest were found (8 ms). With
1,000 the estimate was 8.5k and the plan the walk (docs/experiments/search.md).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("search", "0003_set_based_rebuild")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE posts_post ALTER COLUMN search_document SET STATISTICS 1000",
            "ALTER TABLE posts_post ALTER COLUMN search_document SET STATISTICS -1",
        ),
    ]
