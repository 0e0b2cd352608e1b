"""PostImage.alt_text: the author's description of each photo, for screen readers.

The column keeps its database default, so bulk loaders that insert images in SQL (the lab's
seeders, search's EXPLAIN load) need not name it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("posts", "0002_image_file_indexes")]

    operations = [
        migrations.AddField(
            model_name="postimage",
            name="alt_text",
            field=models.CharField(blank=True, db_default="", default="", max_length=500),
        ),
    ]
