"""The application database: migrations now; slow queries, connections and bloat later."""
