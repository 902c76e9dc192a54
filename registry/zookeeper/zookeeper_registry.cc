// Placeholder: implemented in the registry work.
