"""xerobridge source plugin for ServiceDesk Plus MSP: accounts, worklog types and worklogs."""
