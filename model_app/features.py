"""The model's input schema: feature names and class names, shared by training and serving."""

# The bundled breast-cancer dataset names its 30 features with spaces ("mean radius");
# the API uses snake_case so that clients can use them as identifiers.
DATASET_FEATURE_NAMES = (
    "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
    "mean fractal dimension", "radius error", "texture error", "perimeter error",
    "area error", "smoothness error", "compactness error", "concavity error",
    "concave points error", "symmetry error", "fractal dimension error", "worst radius",
    "worst texture", "worst perimeter", "worst area", "worst smoothness",
    "worst compactness", "worst concavity", "worst concave points", "worst symmetry",
    "worst fractal dimension",
)

FEATURE_NAMES = tuple(name.replace(" ", "_") for name in DATASET_FEATURE_NAMES)

# Index i is the label the model predicts as i (the dataset's target encoding).
CLASS_NAMES = ("malignant", "benign")
