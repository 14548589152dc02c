"""Tools around the device server: the demo, an embedded Tango database, test servers, the panel."""
