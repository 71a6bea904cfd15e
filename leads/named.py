"""Objects people name, which the workflow document names by that name."""

from django.db import models


class NamedManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class NamedModel(models.Model):
    """An object people name, and the workflow document names by that name
    (Appendix A: natural keys): unique, ordered by it, shown as it."""

    name = models.CharField(max_length=100, unique=True)

    objects = NamedManager()

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)
