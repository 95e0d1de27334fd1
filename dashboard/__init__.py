"""The Streamlit dashboard over the ledger and reconstruction read APIs."""
