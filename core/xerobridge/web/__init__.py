"""The daemon's web app: the dashboard, Xero's webhooks, source notifications, OAuth."""
