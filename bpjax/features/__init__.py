"""What cards read: bar series and their registry, streaming (EW) statistics, rolling window
features, and the declarations several card categories share."""
