class PrimaryReplicaRouter:
    """Writes go to the primary ("default"), reads to the replica: the
    replica lags the primary by the replication delay, so a page that must
    see its own write reads from the primary itself (using("default"))."""

    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A hot standby is read-only: it gets the schema by replication.
        return db == "default"
