"""The store: one folder (or shared databases) holding MLflow runs, models and Optuna studies."""
