"""Final evaluation on the unseen test split, and the baselines a user would try first."""
