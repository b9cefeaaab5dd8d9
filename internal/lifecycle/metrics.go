package lifecycle

// Metric names (unit Count), written through emf like the refresher's, so the stack's dashboards and
// alarms find them next to the refresh metrics.
const (
	// MetricUninstalled counts installations uninstalled (webhook or operator).
	MetricUninstalled = "Uninstalled"
	// MetricRevokeFailed counts uninstalls whose tokens LiveChat could not be asked to revoke.
	MetricRevokeFailed = "RevokeFailed"
)
