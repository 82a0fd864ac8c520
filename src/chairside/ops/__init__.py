"""Operations: the runbooks made executable. One folder per procedure, same shape each."""
