"""Operations: live metrics for admins (``metrics:subscribe``), and the metrics function's work."""
