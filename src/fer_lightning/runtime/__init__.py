"""What every entry point shares: config resolvers, validation, precision choice, run dirs and error handling."""
