"""Database functions the ORM lacks, for PostgreSQL and SQLite alike."""

from django.db import models


class EpochSeconds(models.Func):
    """The seconds since 1970-01-01 UTC of a datetime, as a float (fractions of a second kept).

    SQLite has no ``EXTRACT(EPOCH …)``: there the Julian day of Django's UTC text is converted
    (to within a few tens of microseconds, which figures in hundredths of an hour never see)."""

    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)"
    output_field = models.FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra_context)
