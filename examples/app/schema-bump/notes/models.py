from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    # The schema bump: a column the next release adds (0002_note_tag).
    tag = models.CharField(max_length=50, blank=True, default="")
