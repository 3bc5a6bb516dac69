"""The service's own tables: which authorities each user works for. Roles are Django groups
(casework.roles.ROLES)."""
from django.conf import settings
from django.db import models


class AuthorityMembership(models.Model):
    """A user works for an authority (3-digit LA code); every query is scoped to these."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authorities")
    la_code = models.CharField(max_length=3)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "la_code"], name="one_membership_per_authority")]
