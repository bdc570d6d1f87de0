from tickettoken.cli import main

main()
