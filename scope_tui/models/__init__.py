"""Model protocol; anthropic and offline backends; token and cost accounting; budgets."""
