"""Nodes of the training pipeline: plain functions, no MLflow calls.

What gets tracked is declared elsewhere: parameters are logged by MlflowHook because these
nodes read them (`params:...`), artifacts, metrics and models by conf/base/catalog_training.yml.
"""

from typing import Any

import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split


def split_data(
    data: pd.DataFrame, split: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split the table into train and test features and targets (stratified)."""
    features = data.drop(columns=[split["target"]])
    target = data[split["target"]]
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        target,
        test_size=split["test_size"],
        random_state=split["random_state"],
        stratify=target,
    )
    return x_train, x_test, y_train, y_test


def train_model(
    x_train: pd.DataFrame, y_train: pd.Series, model: dict[str, Any]
) -> GradientBoostingClassifier:
    """Fit a gradient-boosted tree classifier with the `model` parameters."""
    classifier = GradientBoostingClassifier(**model)
    classifier.fit(x_train, y_train)
    return classifier


def evaluate_model(
    classifier: GradientBoostingClassifier, x_test: pd.DataFrame, y_test: pd.Series
) -> dict[str, float]:
    """Score the classifier on the held-out test set."""
    predicted = classifier.predict(x_test)
    probability = classifier.predict_proba(x_test)[:, 1]
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, probability)),
    }
