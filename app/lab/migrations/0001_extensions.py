"""PostgreSQL extensions the search indexes need (trigram similarity, accent folding)."""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [TrigramExtension(), UnaccentExtension()]
