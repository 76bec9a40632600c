"""The one MLflow run of a Kedro run: the session that opens, writes and ends it (session.py, the
only module here that imports mlflow), what it logs (params.py, tags.py, batches.py), where the
datasets log to in any thread or process (run_context.py), and what a failure means for the user
(failures.py). import_cost.py keeps mlflow's first import cheap.
"""
