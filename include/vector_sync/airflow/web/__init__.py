"""The operations page and JSON API mounted in Airflow's API server (see plugins/).

The package stays import-light: the plugin imports it (and ``lazy``) in every Airflow process
that loads plugins (task runners too), and only the API server needs ``app``.
"""

URL_PREFIX = "/vector-sync"
