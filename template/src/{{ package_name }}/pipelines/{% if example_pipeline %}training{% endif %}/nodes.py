"""Nodes of the training pipeline: plain functions, no MLflow calls.

What gets tracked is declared elsewhere: parameters are logged by MlflowHook because these
nodes read them (`params:...`); metrics, the figure, the report and the model are logged by
their datasets in conf/base/catalog_training.yml.
"""

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


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
) -> tuple[Pipeline, list[float]]:
    """Fit a scaled logistic-loss linear classifier epoch by epoch.

    Returns the fitted model and its training loss after each epoch.
    """
    scaler = StandardScaler().fit(x_train)
    features = scaler.transform(x_train)
    classifier = SGDClassifier(
        loss="log_loss", alpha=model["alpha"], random_state=model["random_state"]
    )
    classes = np.unique(y_train)
    loss = []
    for _ in range(model["epochs"]):
        classifier.partial_fit(features, y_train, classes=classes)
        loss.append(float(log_loss(y_train, classifier.predict_proba(features))))
    return Pipeline([("scale", scaler), ("classify", classifier)]), loss


def evaluate_model(
    classifier: Pipeline, x_test: pd.DataFrame, y_test: pd.Series
) -> dict[str, float]:
    """Score the classifier on the held-out test set."""
    predicted = classifier.predict(x_test)
    probability = classifier.predict_proba(x_test)[:, 1]
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, probability)),
    }


def report_per_class(
    classifier: Pipeline, x_test: pd.DataFrame, y_test: pd.Series
) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class on the test set."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, classifier.predict(x_test)
    )
    return pd.DataFrame(
        {
            "class": ["benign", "malignant"],
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    )


def plot_training_loss(loss: list[float]) -> Figure:
    """A figure of the training loss per epoch."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot(range(1, len(loss) + 1), loss, marker="o")
    axes.set_xlabel("epoch")
    axes.set_ylabel("training log-loss")
    axes.set_title("Training loss")
    axes.grid(True, alpha=0.3)
    return figure
