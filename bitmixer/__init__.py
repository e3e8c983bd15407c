"""The application on top of the libraries: the `bitmixer` command line and the end-to-end demo.
It imports quantnet, hwsim and studies; none of them imports it."""
